"""scintnet.tagging"""
