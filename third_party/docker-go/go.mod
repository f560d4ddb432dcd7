module github.com/docker/go

go 1.21
