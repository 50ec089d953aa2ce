"""scintnet.train"""
