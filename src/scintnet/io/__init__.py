"""scintnet.io"""
