"""scintnet.physics"""
