//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package reactor

// shoal's reactor needs epoll (Linux) or poll(2) with the BSD socket
// calls (macOS and the BSDs). Building it elsewhere stops here on purpose
// rather than misbehaving.
var _ = shoal_reactor_requires_linux_macos_or_bsd
