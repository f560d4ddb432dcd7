module github.com/keyrite/keyrite

go 1.26.8

require (
	filippo.io/age v1.3.2
	github.com/docker/go v1.5.1-1.0.20160303222718-d30aec9fd63c
	github.com/miekg/pkcs11 v1.0.2
	github.com/theupdateframework/notary v0.7.0
	golang.org/x/crypto v0.55.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.47.0
)

require (
	filippo.io/hpke v0.4.0 // indirect
	github.com/docker/distribution v2.7.1+incompatible // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/konsorten/go-windows-terminal-sequences v1.0.2 // indirect
	github.com/sirupsen/logrus v1.10.2 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)
