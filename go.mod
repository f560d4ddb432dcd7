module github.com/keyrite/keyrite

go 1.26.8

require golang.org/x/crypto v0.55.0
