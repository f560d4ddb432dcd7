package pivsim

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// vpcd control bytes (vsmartcard's vpcd.h).
const (
	vpcdPowerOff = 0x00
	vpcdPowerOn  = 0x01
	vpcdReset    = 0x02
	vpcdGetATR   = 0x04
)

// Plugged is a card inserted into a vpcd reader slot.
type Plugged struct {
	Card *Card
	Addr string

	conn      net.Conn
	done      chan struct{}
	ready     chan struct{}
	readyOnce sync.Once
	mu        sync.Mutex
	err       error
}

// Plug dials a vpcd reader slot (host:port; vpcd listens, the card dials)
// and serves the card on it until Unplug. It retries until ctx ends, since
// pcscd may still be starting.
func Plug(ctx context.Context, card *Card, addr string) (*Plugged, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			card.PowerCycle()
			p := &Plugged{Card: card, Addr: addr, conn: conn, done: make(chan struct{}), ready: make(chan struct{})}
			go p.serve()
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pivsim: connecting to vpcd at %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Unplug pulls the card out: pcscd sees it removed at its next poll.
func (p *Plugged) Unplug() error {
	p.conn.Close()
	<-p.done
	p.Card.PowerCycle()
	return nil
}

// Ready is closed once the reader has powered the card up and read its
// ATR: pcscd is about to report the card present.
func (p *Plugged) Ready() <-chan struct{} { return p.ready }

// Done is closed when the connection ends (unplugged, or the reader went
// away).
func (p *Plugged) Done() <-chan struct{} { return p.done }

// Err is the reason the connection ended, nil after Unplug.
func (p *Plugged) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Plugged) serve() {
	defer close(p.done)
	err := serveConn(p.conn, p.Card, func() { p.readyOnce.Do(func() { close(p.ready) }) })
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		err = nil
	}
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
}

// serveConn answers vpcd requests: a 2-byte big-endian length and a payload
// both ways. One-byte payloads are control requests; anything longer is a
// command APDU. Every APDU and get-ATR gets an answer, or vpcd would wait
// forever.
func serveConn(conn net.Conn, card *Card, onATR func()) error {
	var hdr [2]byte
	powered := false
	for {
		quickAck(conn)
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint16(hdr[:])
		msg := make([]byte, n)
		quickAck(conn)
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		var reply []byte
		isATR := false
		switch {
		case n == 1:
			switch msg[0] {
			case vpcdPowerOff, vpcdPowerOn, vpcdReset:
				card.PowerCycle()
				powered = msg[0] != vpcdPowerOff
				continue
			case vpcdGetATR:
				// vpcd reads the ATR both to poll for the card and after
				// powering it up; only the latter means pcscd is using it.
				reply = ATR
				isATR = powered
			default:
				continue
			}
		case n == 0:
			continue
		default:
			reply = card.Transmit(msg)
		}
		out := make([]byte, 2+len(reply))
		binary.BigEndian.PutUint16(out, uint16(len(reply)))
		copy(out[2:], reply)
		if _, err := conn.Write(out); err != nil {
			return err
		}
		if isATR {
			onATR()
		}
	}
}
