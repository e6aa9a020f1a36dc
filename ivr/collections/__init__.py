"""Collections (collections.md): accounts in arrears arrive as CSV files and become cases; the
account's flag is kept in the billing service. `rows` reads a file, `cases` keeps the cases in
SQL, `intake` takes files in (and the inbox folder), `flags` talks to the billing service,
`config` reads the `collections:` section."""
