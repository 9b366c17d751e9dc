-- What geo knows of an account: whether it was forgotten, and its settings' version.
SELECT forgotten, version FROM geo.accounts WHERE id = $1
