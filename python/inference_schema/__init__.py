"""inferd's implementation of Azure's ``inference_schema`` package.

Written from the documented behaviour: ``schema_decorators.input_schema`` and
``output_schema`` record parameter types on a scoring function, convert JSON
inputs to the sample's type, and feed the Swagger document inferd serves.
"""
