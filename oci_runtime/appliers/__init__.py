"""One module per runtime-spec section; each exposes apply() with the same shape."""
