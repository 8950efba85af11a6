"""The cheapest possible scoring script: measures the serving stack itself."""


def init():
    pass


def run(raw_data):
    return raw_data
