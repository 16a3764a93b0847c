module github.com/shoalws/shoal

go 1.25.0

require (
	github.com/klauspost/compress v1.20.4
	github.com/panjf2000/ants/v2 v2.12.1
	golang.org/x/sys v0.47.0
)

require golang.org/x/sync v0.11.0 // indirect
