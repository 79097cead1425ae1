"""shiptrack domain: settings, models, DynamoDB store, services, events and the HTTP error map."""
