module github.com/shoalws/shoal/internal/e2e

go 1.25.0

require (
	github.com/gorilla/websocket v1.5.3
	github.com/shoalws/shoal v0.1.0
)

require github.com/klauspost/compress v1.20.4 // indirect

require (
	github.com/coder/websocket v1.8.14
	github.com/panjf2000/ants/v2 v2.12.1 // indirect
	golang.org/x/sync v0.11.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
)
