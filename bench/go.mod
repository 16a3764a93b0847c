module github.com/shoalws/shoal/bench

go 1.25.0

require (
	github.com/coder/websocket v1.8.14
	github.com/gobwas/ws v1.4.0
	github.com/gorilla/websocket v1.5.3
	github.com/lesismal/llib v1.2.4
	github.com/lesismal/nbio v1.6.12
	github.com/lxzan/gws v1.10.2
	github.com/shoalws/shoal v0.1.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/panjf2000/ants/v2 v2.12.1 // indirect
	golang.org/x/crypto v0.0.0-20210513122933-cd7d49e622d5 // indirect
	golang.org/x/sync v0.11.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
