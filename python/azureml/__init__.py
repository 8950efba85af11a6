"""inferd's stand-in for the ``azureml`` namespace (only ``azureml.contrib.services``).

Other ``azureml.*`` distributions installed on the machine stay importable: the
package path is extended with every other ``azureml`` folder on ``sys.path``.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
