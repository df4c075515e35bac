"""What every HTTP client of the tool shares: when and how long to wait before a request is
sent again (`retry`). Microsoft Graph's client and the HR systems' connectors use it."""
