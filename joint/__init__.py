"""duetto.joint"""
