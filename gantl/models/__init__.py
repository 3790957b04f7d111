"""Networks as plain nn.Modules built from explicit integers."""
