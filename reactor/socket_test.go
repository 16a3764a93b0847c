package reactor

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListenReusePortAcceptRead(t *testing.T) {
	l1, err := Listen("127.0.0.1:0", true, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(l1)
	addr, err := LocalAddr(l1)
	if err != nil {
		t.Fatal(err)
	}
	// A second socket on the same port: the per-shard listener layout.
	l2, err := Listen(addr.String(), true, 0)
	if err != nil {
		t.Fatalf("second SO_REUSEPORT listener: %v", err)
	}
	defer Close(l2)
	// Without SO_REUSEPORT the port is taken.
	if fd, err := Listen(addr.String(), false, 0); err == nil {
		Close(fd)
		t.Fatal("plain listen on a taken port succeeded")
	}

	const clients = 8
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello " + strconv.Itoa(i)))
	}
	var a Acceptor
	accepted := 0
	deadline := time.Now().Add(5 * time.Second)
	for accepted < clients && time.Now().Before(deadline) {
		for _, l := range []int{l1, l2} {
			fd, peer, err := a.Accept(l)
			if IsAgain(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !peer.Addr().IsLoopback() {
				t.Errorf("peer %v is not loopback", peer)
			}
			if nd, _ := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); nd == 0 {
				t.Error("accepted socket has Nagle on")
			}
			buf := make([]byte, 64)
			for {
				n, err := Read(fd, buf)
				if IsAgain(err) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil || !bytes.HasPrefix(buf[:n], []byte("hello ")) {
					t.Fatalf("Read = %q, %v", buf[:n], err)
				}
				break
			}
			Close(fd)
			accepted++
		}
		time.Sleep(time.Millisecond)
	}
	if accepted != clients {
		t.Fatalf("accepted %d of %d", accepted, clients)
	}
}

func TestVecWritevPartial(t *testing.T) {
	a, b := socketPair(t)
	// Shrink the send buffer so writev takes only part of a large batch.
	unix.SetsockoptInt(a, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	var v Vec
	var want []byte
	for i := 0; i < 64; i++ {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 1000)
		if !v.Add(chunk) {
			t.Fatal("Add refused below MaxVec")
		}
		want = append(want, chunk...)
	}
	if v.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", v.Len(), len(want))
	}
	n, err := v.Writev(a)
	if err != nil || n <= 0 || n >= len(want) {
		t.Fatalf("Writev = %d, %v; want a partial write", n, err)
	}
	// The socket is full now: the next write says EAGAIN.
	var w Vec
	w.Add(want[n:])
	if _, err := w.Writev(a); !IsAgain(err) {
		t.Fatalf("Writev on full socket = %v, want EAGAIN", err)
	}
	got := make([]byte, 0, len(want))
	buf := make([]byte, 8192)
	for len(got) < n {
		m, err := Read(b, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:m]...)
	}
	if !bytes.Equal(got, want[:n]) {
		t.Fatal("bytes written differ from the gathered buffers")
	}
	v.Reset()
	if v.Len() != 0 {
		t.Fatal("Reset left bytes")
	}
}

func TestVecLimitAndZeroAlloc(t *testing.T) {
	var v Vec
	one := []byte{1}
	for i := 0; i < MaxVec; i++ {
		if !v.Add(one) {
			t.Fatalf("Add %d refused", i)
		}
	}
	if v.Add(one) {
		t.Fatal("Add beyond MaxVec accepted")
	}
	if !v.Add(nil) {
		t.Fatal("empty buffers are skipped, not refused")
	}
	if raceEnabled {
		return
	}
	a, b := socketPair(t)
	// Drain b until the test ends; stopped before socketPair's cleanup
	// closes the fds (cleanups run last-in first-out), so it never reads
	// a recycled fd number.
	var stop atomic.Bool
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 64<<10)
		for !stop.Load() {
			if _, err := Read(b, buf); IsAgain(err) {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	t.Cleanup(func() { stop.Store(true); <-drained })
	payload := make([]byte, 512)
	v.Reset()
	allocs := testing.AllocsPerRun(100, func() {
		v.Reset()
		v.Add(payload)
		v.Add(payload)
		if _, err := v.Writev(a); err != nil && !IsAgain(err) {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Vec add+writev allocates %v per run", allocs)
	}
}

func TestDetach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Detach(server.(*net.TCPConn))
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	// The net.Conn is closed; the duplicate still carries the connection.
	if _, err := server.Write([]byte("x")); err == nil {
		t.Fatal("original conn still usable after Detach")
	}
	if fl, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); fl&unix.O_NONBLOCK == 0 {
		t.Fatal("detached fd is blocking")
	}
	client.Write([]byte("ping"))
	buf := make([]byte, 8)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := Read(fd, buf)
		if IsAgain(err) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("Read on detached fd = %q, %v", buf[:n], err)
		}
		break
	}
}

// The accepted peer address is exactly the dialer's local address, for
// both families, and accepting allocates nothing on the epoll backend
// (acceptAllocs says what each backend allows).
func TestAcceptorPeerAddressAndAllocs(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			l, err := Listen(host+":0", false, 0)
			if err != nil {
				t.Skipf("no %s loopback here: %v", host, err)
			}
			defer Close(l)
			addr, err := LocalAddr(l)
			if err != nil {
				t.Fatal(err)
			}
			const runs = 20
			var locals []string
			for range runs + 1 { // AllocsPerRun calls f once more to warm up
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				locals = append(locals, c.LocalAddr().String())
			}
			var a Acceptor
			var peers []netip.AddrPort
			accept := func() {
				for {
					fd, peer, err := a.Accept(l)
					if IsAgain(err) {
						continue // the dials are done; the queue is filling
					}
					if err != nil {
						t.Fatal(err)
					}
					Close(fd)
					if len(peers) < cap(peers) {
						peers = append(peers, peer)
					}
					return
				}
			}
			peers = make([]netip.AddrPort, 0, runs+1)
			allocs := testing.AllocsPerRun(runs, accept)
			if allocs > acceptAllocs && !raceEnabled {
				t.Errorf("Accept: %v allocs, want at most %d", allocs, acceptAllocs)
			}
			var got []string
			for _, p := range peers {
				got = append(got, p.String())
			}
			slices.Sort(locals)
			slices.Sort(got)
			if !slices.Equal(locals, got) {
				t.Errorf("accepted peers %v, dialers were %v", got, locals)
			}
		})
	}
}

// A listener on every address (no host) takes IPv4 connections too, as
// net.Listen's does: on the BSDs the poll backend must ask for it.
func TestListenEveryAddressTakesIPv4(t *testing.T) {
	l, err := Listen(":0", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(l)
	addr, err := LocalAddr(l)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(int(addr.Port())))
	if err != nil {
		t.Fatalf("IPv4 dial to a listener on every address: %v", err)
	}
	defer c.Close()
	var a Acceptor
	deadline := time.Now().Add(5 * time.Second)
	for {
		fd, peer, err := a.Accept(l)
		if IsAgain(err) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		Close(fd)
		if !peer.Addr().Is4() {
			t.Errorf("peer %v: want an IPv4 address", peer)
		}
		return
	}
}
