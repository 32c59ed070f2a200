"""The catalogue: meters, features, prices, costsheets, customers, plans and subscriptions."""
