"""Data access: the only code that speaks DynamoDB, one small repository per item family (docs/data-model.md)."""
