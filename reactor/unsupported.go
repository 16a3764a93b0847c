//go:build !linux

package reactor

// shoal's reactor is built on epoll and eventfd, which only Linux has.
// Building it elsewhere stops here on purpose rather than misbehaving.
var _ = shoal_reactor_requires_linux_epoll
