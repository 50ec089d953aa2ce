"""scintnet.evaluate"""
