"""duetto.align"""
