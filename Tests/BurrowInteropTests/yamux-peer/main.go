// yamux-peer is the reference side of Burrow's wire-compatibility test: hashicorp/yamux on one
// end of a loopback TCP connection, Burrow's mux on the other.
//
// Script (every check prints "OK <what>" or "FAIL <what>: <why>" on stdout; exit 0 only if
// all passed):
//   - streams the Swift side opens: first byte 'E' = echo everything (the byte included) until
//     EOF, then close; 'R' = answer "r", then expect the stream to be reset by the Swift side;
//   - streams this side opens (-streams of -size random bytes each): write while reading the
//     echo, compare, close;
//   - ping the Swift side;
//   - once -expect Swift streams were echoed and one was reset: GoAway, then wait for the
//     Swift side to close the connection.
//
// Build: GOPATH=/usr/share/gocode GO111MODULE=off go build -o yamux-peer main.go
package main

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

var failed bool
var outputLock sync.Mutex

func report(ok bool, format string, args ...interface{}) {
	outputLock.Lock()
	defer outputLock.Unlock()
	if ok {
		fmt.Printf("OK "+format+"\n", args...)
	} else {
		failed = true
		fmt.Printf("FAIL "+format+"\n", args...)
	}
}

func main() {
	connect := flag.String("connect", "", "dial this address and be the yamux client (odd stream ids)")
	listen := flag.String("listen", "", "listen here, print 'LISTEN <port>', accept one connection and be the yamux server")
	streams := flag.Int("streams", 32, "streams this side opens")
	size := flag.Int("size", 1<<20, "bytes sent on each stream this side opens")
	expect := flag.Int("expect", 32, "echo streams the Swift side opens")
	flag.Parse()

	time.AfterFunc(120*time.Second, func() {
		fmt.Println("FAIL timeout: the script did not finish in 120 s")
		os.Exit(2)
	})

	config := yamux.DefaultConfig()
	config.EnableKeepAlive = false
	// yamux gives up on a write the peer has not read for 10 s and leaves a frame cut off on
	// the wire (the Swift side then reads garbage). Two cores running the whole suite at once
	// have starved the Swift side's event loop that long; a slow peer is not what this tests.
	config.ConnectionWriteTimeout = 2 * time.Minute
	config.LogOutput = os.Stderr

	var session *yamux.Session
	var err error
	if *connect != "" {
		conn, dialErr := net.Dial("tcp", *connect)
		if dialErr != nil {
			fmt.Println("FAIL dial:", dialErr)
			os.Exit(1)
		}
		session, err = yamux.Client(conn, config)
	} else {
		listener, listenErr := net.Listen("tcp", *listen)
		if listenErr != nil {
			fmt.Println("FAIL listen:", listenErr)
			os.Exit(1)
		}
		fmt.Printf("LISTEN %d\n", listener.Addr().(*net.TCPAddr).Port)
		conn, acceptErr := listener.Accept()
		if acceptErr != nil {
			fmt.Println("FAIL accept:", acceptErr)
			os.Exit(1)
		}
		session, err = yamux.Server(conn, config)
	}
	if err != nil {
		fmt.Println("FAIL session:", err)
		os.Exit(1)
	}

	var echoed sync.WaitGroup
	echoed.Add(*expect)
	resetSeen := make(chan struct{}, 1)
	go acceptLoop(session, &echoed, resetSeen)

	var opened sync.WaitGroup
	for i := 0; i < *streams; i++ {
		opened.Add(1)
		go func() {
			defer opened.Done()
			openAndVerify(session, *size)
		}()
	}
	opened.Wait()
	report(true, "opened %d streams of %d bytes, echoes byte-exact", *streams, *size)

	if rtt, err := session.Ping(); err != nil {
		report(false, "ping: %v", err)
	} else {
		report(true, "ping answered in %v", rtt)
	}

	echoed.Wait()
	report(true, "echoed %d streams opened by the Swift side", *expect)
	<-resetSeen

	if err := session.GoAway(); err != nil {
		report(false, "goaway: %v", err)
	} else {
		report(true, "goaway sent")
	}
	<-session.CloseChan()
	report(true, "session closed by the Swift side")
	if failed {
		os.Exit(1)
	}
}

func acceptLoop(session *yamux.Session, echoed *sync.WaitGroup, resetSeen chan struct{}) {
	for {
		stream, err := session.AcceptStream()
		if err != nil {
			return
		}
		go serve(stream, echoed, resetSeen)
	}
}

func serve(stream *yamux.Stream, echoed *sync.WaitGroup, resetSeen chan struct{}) {
	command := make([]byte, 1)
	if _, err := io.ReadFull(stream, command); err != nil {
		report(false, "stream %d: reading the command: %v", stream.StreamID(), err)
		return
	}
	switch command[0] {
	case 'E':
		// io.Copy ends at the Swift side's FIN while our direction is still open: half-close.
		if _, err := stream.Write(command); err != nil {
			report(false, "stream %d: echo: %v", stream.StreamID(), err)
		}
		if _, err := io.Copy(stream, stream); err != nil {
			report(false, "stream %d: echo: %v", stream.StreamID(), err)
		}
		stream.Close()
		echoed.Done()
	case 'R':
		stream.Write([]byte("r"))
		buffer := make([]byte, 1024)
		for {
			if _, err := stream.Read(buffer); err != nil {
				report(err == yamux.ErrConnectionReset, "stream %d: reset by the Swift side (%v)", stream.StreamID(), err)
				resetSeen <- struct{}{}
				return
			}
		}
	default:
		report(false, "stream %d: unknown command %q", stream.StreamID(), command[0])
	}
}

// openAndVerify sends random bytes on a new stream and checks the Swift side echoes them.
// It reads while writing and closes only once the whole echo is in: this yamux version's Read
// reports EOF as soon as the stream is closed locally.
func openAndVerify(session *yamux.Session, size int) {
	stream, err := session.OpenStream()
	if err != nil {
		report(false, "open: %v", err)
		return
	}
	payload := make([]byte, size)
	rand.Read(payload)
	received := make(chan []byte, 1)
	go func() {
		echo := make([]byte, size)
		n, err := io.ReadFull(stream, echo)
		if err != nil {
			report(false, "stream %d: read echo after %d bytes: %v", stream.StreamID(), n, err)
		}
		received <- echo[:n]
	}()
	if _, err := stream.Write(payload); err != nil {
		report(false, "stream %d: write: %v", stream.StreamID(), err)
	}
	echo := <-received
	if !bytes.Equal(echo, payload) {
		report(false, "stream %d: echo differs (%d bytes back of %d)", stream.StreamID(), len(echo), size)
	}
	stream.Close()
}
