"""duetto.train"""
