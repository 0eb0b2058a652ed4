package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/selector"
)

// This file is what a process that makes one call does while it reads the
// registry (Prepare): connect to the node the previous process chose for
// the next call, and read that node's descriptors from the cache. The
// registry still decides:
// the connection carries a call only when the registry's answer lists its
// address, and is closed otherwise.

// nodeHint is a node of a service as a previous process left it in the
// cache directory: where to connect ahead of the registry's answer, and
// the descriptor cache entry it uses.
type nodeHint struct {
	address     string
	version     string
	fingerprint string
}

// line is the hint as stored: one line of tab-separated fields.
func (h nodeHint) line() []byte {
	return []byte(h.address + "\t" + h.version + "\t" + h.fingerprint + "\n")
}

// hintOf is the hint of a candidate node.
func hintOf(node *registry.Node, version string) nodeHint {
	return nodeHint{address: node.Address, version: version, fingerprint: fingerprintOf(node)}
}

// prepared is what Prepare began for one service.
type prepared struct {
	read    nodeHint // the hint found on disk
	hasRead bool
	// next is the hint for the next process: a node of this call's
	// candidates, chosen at random (see preferringStrategy).
	next    nodeHint
	hasNext bool
	// settled: the first node of the call was chosen, and the connection
	// made ahead was kept (same address) or dropped.
	settled bool
}

// hintPath is the file that keeps the hint of service in dir.
func hintPath(dir, service string) string {
	sum := sha256.Sum256([]byte(service))
	safe := []byte(service)
	for i, c := range safe {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
		default:
			safe[i] = '_'
		}
	}
	if len(safe) > 64 {
		safe = safe[:64]
	}
	return filepath.Join(dir, string(safe)+"-"+hex.EncodeToString(sum[:6])+".node")
}

// readHint reads the hint of service; ok is false when there is none or it
// cannot be read.
func readHint(dir, service string) (nodeHint, bool) {
	data, err := os.ReadFile(hintPath(dir, service))
	if err != nil {
		return nodeHint{}, false
	}
	line, _, _ := bufio.NewReader(bytes.NewReader(data)).ReadLine()
	fields := strings.Split(string(line), "\t")
	if len(fields) != 3 || fields[0] == "" {
		return nodeHint{}, false
	}
	return nodeHint{address: fields[0], version: fields[1], fingerprint: fields[2]}, true
}

// writeHint replaces the hint of service, through a temporary file renamed
// into place so that readers never see half of one.
func writeHint(dir, service string, h nodeHint) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := hintPath(dir, service)
	tmp, err := os.CreateTemp(dir, "."+strings.TrimSuffix(filepath.Base(path), ".node")+"-*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(h.line())
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// Prepare begins, in the background, what the next call of endpoint of
// service needs, for a process that makes one call and exits: with
// Options.RememberNodes, it connects to the node the previous process left
// in Options.CacheDir for this call and reads that node's descriptor cache
// entry, while the call reads the registry, so that the call's connect and
// resolve steps have nothing left to wait for.
//
// Nothing is sent to that node but the connection's preface: the call
// uses the connection only when the registry's answer lists a node at
// its address, and the connection is closed as soon as the call chose
// another node; a descriptor cache entry is used only when the chosen
// node's version and fingerprint name it. Prepare does nothing with
// Options.Address. ctx bounds what it begins; so does Close.
func (c *Client) Prepare(ctx context.Context, service, endpoint string) {
	if c.opts.Address != "" || service == "" {
		return
	}
	c.mu.Lock()
	if c.closed || c.prepared[service] != nil {
		c.mu.Unlock()
		return
	}
	p := &prepared{}
	c.prepared[service] = p
	var hint nodeHint
	var pc *pooledConn
	if c.opts.RememberNodes && c.opts.CacheDir != "" {
		if h, ok := readHint(c.opts.CacheDir, service); ok {
			hint, p.read, p.hasRead = h, h, true
			pc = c.dialAheadLocked(h.address)
		}
	}
	c.mu.Unlock()

	if !p.hasRead {
		return
	}
	// What is begun here ends with ctx, or with Close.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	var work sync.WaitGroup
	if pc != nil {
		work.Go(func() { c.dialInto(ctx, pc) })
	}
	if c.opts.Source == nil {
		if entry, err := c.cacheEntry(c.cacheKey(service, hint.version, hint.address, hint.fingerprint)); err == nil {
			work.Go(func() {
				if entry.cache.Load() && endpoint != "" {
					// Links the method's descriptors and reads its options
					// (isIdempotent), which is done once per process.
					if method, err := call.FindMethod(ctx, entry.cache, service, endpoint); err == nil {
						_ = method.Options()
					}
				}
			})
		}
	}
	c.background.Go(func() {
		work.Wait()
		stop()
		cancel()
	})
}

// dialAheadLocked puts a connection to address into the pool, marked as
// made ahead, and returns it for dialInto; nil when the pool has one.
func (c *Client) dialAheadLocked(address string) *pooledConn {
	if _, found := c.conns[address]; found || address == "" {
		return nil
	}
	pc := &pooledConn{address: address, ready: make(chan struct{}), ahead: true}
	c.conns[address] = pc
	return pc
}

// settle is told the first node a call to service chose: a connection made
// ahead to another address is closed, since the registry's answer or the
// strategy did not choose it.
func (c *Client) settle(service string, node *registry.Node) {
	c.mu.Lock()
	p := c.prepared[service]
	if p == nil || p.settled || !p.hasRead {
		c.mu.Unlock()
		return
	}
	p.settled = true
	var drop *pooledConn
	if node.Address != p.read.address {
		if pc := c.conns[p.read.address]; pc != nil && pc.ahead && pc.users == 0 {
			drop = pc
		}
	}
	c.mu.Unlock()
	if drop != nil {
		// Closing waits for the dial to end: not on the call's time.
		c.background.Go(func() { c.dropConn(drop) })
	}
}

// firstNodeChosen is told the node the first attempt of a call to service
// chose: the connection made ahead is kept or dropped (settle), and the
// node is the hint for the next process unless the strategy left one.
func (c *Client) firstNodeChosen(service string, node *registry.Node, version string) {
	c.settle(service, node)
	c.noteNext(service, hintOf(node, version), false)
}

// noteNext remembers node as the hint for the next process, unless the
// strategy chose one already.
func (c *Client) noteNext(service string, h nodeHint, fromStrategy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.prepared[service]
	if p == nil {
		return
	}
	if fromStrategy || !p.hasNext {
		p.next, p.hasNext = h, true
	}
}

// saveHint writes the hint for the next process after a call to service,
// when it differs from the one read.
func (c *Client) saveHint(service string) {
	if !c.opts.RememberNodes || c.opts.CacheDir == "" {
		return
	}
	c.mu.Lock()
	p := c.prepared[service]
	if p == nil || !p.hasNext || (p.hasRead && p.next == p.read) {
		c.mu.Unlock()
		return
	}
	h := p.next
	p.read, p.hasRead = h, true // written: the next call of this process need not write it again
	c.mu.Unlock()
	if err := writeHint(c.opts.CacheDir, service, h); err != nil && c.opts.OnCacheWriteError != nil {
		c.opts.OnCacheWriteError(err)
	}
}

// preferringStrategy is the strategy of the selector the client makes: it
// picks the node Prepare connected to ahead when it is a candidate, and
// else as base does. The node it leaves for the next process is one of
// the candidates chosen uniformly at random, so that calls made one
// process after another spread over the nodes as Random spreads them.
type preferringStrategy struct {
	client *Client
	base   selector.Strategy
}

func (s *preferringStrategy) Pick(service string, candidates []selector.Candidate) int {
	c := s.client
	if !c.opts.RememberNodes {
		return s.base.Pick(service, candidates)
	}
	c.mu.Lock()
	p := c.prepared[service]
	var want string
	if p != nil && p.hasRead && !p.settled {
		want = p.read.address
	}
	c.mu.Unlock()
	if p == nil {
		return s.base.Pick(service, candidates)
	}
	next := candidates[rand.IntN(len(candidates))]
	c.noteNext(service, hintOf(next.Node, next.Version), true)
	for i, candidate := range candidates {
		if want != "" && candidate.Node.Address == want {
			return i
		}
	}
	return s.base.Pick(service, candidates)
}
