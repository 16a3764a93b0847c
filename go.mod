module github.com/shoalws/shoal

go 1.25.0
