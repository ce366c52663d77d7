"""duetto.audio"""
