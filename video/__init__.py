"""duetto.video"""
