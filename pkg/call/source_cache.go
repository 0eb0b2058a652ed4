package call

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/runtime/protoimpl"
	"google.golang.org/protobuf/types/descriptorpb"
)

var (
	_ DescriptorSource = (*CachedSource)(nil)
	_ Refresher        = (*CachedSource)(nil)
)

// CacheKey names one cache entry: the descriptors of one version of one
// service, with one fingerprint. Address is optional; set it when the
// version is unknown (a call made straight to an address) so that different
// servers do not share an entry. Fingerprint is the node's
// registry.MetadataDescriptorsFingerprint, when it publishes one: a service
// rebuilt with a changed API under the same version gets an entry of its
// own, with no request to find out.
type CacheKey struct {
	Service     string
	Version     string
	Address     string
	Fingerprint string
}

// String is the key as a person reads it: greeter@1.0.0 (127.0.0.1:50051),
// greeter@1.0.0 #3f2a... with a fingerprint.
func (k CacheKey) String() string {
	s := k.Service
	if k.Version != "" {
		s += "@" + k.Version
	}
	if k.Fingerprint != "" {
		s += " #" + k.Fingerprint
	}
	if k.Address != "" {
		s += " (" + k.Address + ")"
	}
	return s
}

// fileName is the entry's file name: readable parts made safe for any file
// system, and a hash of the whole key so that keys the cleaning makes equal
// still get files of their own.
func (k CacheKey) fileName() string {
	whole := k.Service + "\x00" + k.Version + "\x00" + k.Address
	if k.Fingerprint != "" {
		whole += "\x00" + k.Fingerprint
	}
	sum := sha256.Sum256([]byte(whole))
	name := safeName(k.Service)
	if k.Version != "" {
		name += "@" + safeName(k.Version)
	}
	return name + "-" + hex.EncodeToString(sum[:6]) + ".protoset"
}

// safeName keeps letters, digits, '.', '-' and '_' of s, replaces anything
// else with '_', and keeps at most 64 bytes.
func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.' && i > 0:
		default:
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// CacheOption changes how a CachedSource works.
type CacheOption func(*cacheOptions)

type cacheOptions struct {
	refresh      bool
	onWriteError func(error)
}

// WithRefresh makes the source ignore what is on disk: the first call fetches
// every descriptor afresh and rewrites the cache entry.
func WithRefresh() CacheOption {
	return func(o *cacheOptions) { o.refresh = true }
}

// WithWriteErrorHandler calls f when the cache entry cannot be written. The
// call that fetched the descriptors still succeeds: the cache only saves time.
// Without it, write errors are ignored.
func WithWriteErrorHandler(f func(error)) CacheOption {
	return func(o *cacheOptions) { o.onWriteError = f }
}

// CachedSource is a DescriptorSource that keeps the descriptors another source
// fetched in a file, so that later processes describe the service without
// asking the server: on a warm cache no request reaches the fetch source.
//
// The entry is a FileDescriptorSet (a protoset) of the server's services with
// every file they import, written at once on the first use and again
// whenever a symbol is missing from it and the fetch source knows it. A
// missing or unreadable entry is fetched again and rewritten. Files are
// written to a temporary file first and renamed, so readers never see half
// an entry. To bypass the cache, do not wrap the fetch source.
//
// A symbol that neither the entry nor the fetch source knows (an Any of a
// type the server does not describe, say) is asked of the fetch source on
// each lookup; a Resolver asks once per process.
//
// A CachedSource is safe for concurrent use.
type CachedSource struct {
	path  string
	key   CacheKey
	fetch DescriptorSource
	opts  cacheOptions

	mu     sync.Mutex
	loaded bool
	set    map[string]*descriptorpb.FileDescriptorProto // by file name; nil until needed when loaded from raw
	raw    []byte                                       // the entry as read, when it was loaded without decoding
	source *FileSource                                  // over set; nil when cold
	fresh  bool                                         // fetched in full by this source
	// served is what the fetch source listed: the services the server
	// serves, not every service of their files. Nil for an entry written
	// without it: every service of the files is listed then.
	served []string
}

// servedServicesField is the field of the entry's FileDescriptorSet that
// lists the services the server serves (as ListServices gave them). It is
// not a field of FileDescriptorSet: readers of protosets skip it as an
// unknown field, so the entry stays a protoset that any tool reads.
const servedServicesField protowire.Number = 536870000

// entrySumField, the last field of an entry this package wrote, holds the
// SHA-256 of every byte before it. Its files were linked once before they
// were written, so an entry whose sum matches is loaded without linking
// them again (see loadVerified); any other entry, a protoset written by
// another tool say, is decoded and linked in full.
const entrySumField protowire.Number = 536870001

// NewCachedSource returns a source that keeps the descriptors fetch gives
// for key in a file under dir (the command line uses the user cache
// directory's micro/descriptors). Nothing is read or fetched until the first
// call.
func NewCachedSource(dir string, key CacheKey, fetch DescriptorSource, opts ...CacheOption) (*CachedSource, error) {
	if key.Service == "" {
		return nil, errors.New("descriptor cache: the key has no service name")
	}
	if dir == "" {
		return nil, fmt.Errorf("descriptor cache for %s: no directory given", key)
	}
	if fetch == nil {
		return nil, fmt.Errorf("descriptor cache for %s: no source to fetch from", key)
	}
	s := &CachedSource{path: filepath.Join(dir, key.fileName()), key: key, fetch: fetch}
	for _, opt := range opts {
		opt(&s.opts)
	}
	return s, nil
}

// Path is the file the entry is kept in.
func (s *CachedSource) Path() string { return s.path }

// ListServices returns the services the server listed when the entry was
// fetched (the fetch source's ListServices, not every service of their
// files), fetching the entry first when there is none.
func (s *CachedSource) ListServices(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.warmLocked(ctx); err != nil {
		return nil, err
	}
	if s.served != nil {
		return slices.Clone(s.served), nil
	}
	return s.source.ListServices(ctx)
}

// Load reads the entry from disk now, if no call did yet, and tells
// whether the source has descriptors: a process that knows which entry
// its call will likely use reads it while it waits for other things (the
// registry's answer, say). It never fetches. With WithRefresh it reads
// nothing and is false.
func (s *CachedSource) Load() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded {
		s.loaded = true
		if !s.opts.refresh {
			s.readLocked()
		}
	}
	return s.source != nil
}

// FindSymbol returns name's descriptor from the cache entry. When the entry
// lacks it, it is fetched, added to the entry, and the entry rewritten.
func (s *CachedSource) FindSymbol(ctx context.Context, name string) (protoreflect.Descriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.warmLocked(ctx); err != nil {
		return nil, err
	}
	if d, err := s.source.FindSymbol(ctx, name); err == nil {
		return d, nil
	}
	d, err := s.fetch.FindSymbol(ctx, name)
	if err != nil {
		return nil, err
	}
	s.addLocked(false, fileOf(d))
	s.writeLocked()
	return d, nil
}

// Refresh fetches every service's descriptors again and rewrites the entry,
// unless this source already fetched them all: they are fresh.
func (s *CachedSource) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loaded = true
	if s.fresh {
		return nil
	}
	return s.populateLocked(ctx)
}

// warmLocked makes sure s.source is set: from disk, or else fetched.
func (s *CachedSource) warmLocked(ctx context.Context) error {
	if !s.loaded {
		s.loaded = true
		if !s.opts.refresh {
			s.readLocked()
		}
	}
	if s.source != nil {
		return nil
	}
	return s.populateLocked(ctx)
}

// readLocked loads the entry from disk; an entry that is missing or cannot be
// read or built leaves the cache cold.
func (s *CachedSource) readLocked() {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return
	}
	if files, served, ok := loadVerified(data); ok {
		s.raw, s.source, s.served = data, newFileSource(files, s.origin()), served
		return
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil || len(set.GetFile()) == 0 {
		return
	}
	byName := make(map[string]*descriptorpb.FileDescriptorProto, len(set.GetFile()))
	for _, file := range set.GetFile() {
		byName[file.GetName()] = file
	}
	source, err := s.build(byName)
	if err != nil {
		return
	}
	s.set, s.source, s.served = byName, source, servedOf(set.ProtoReflect().GetUnknown())
	// Written again with its sum (an entry of an older micro has none), so
	// that the next run loads it without linking.
	s.writeLocked()
}

// loadVerified builds the files of an entry this package wrote, checked by
// its sum, the way generated code builds its own: from the serialized
// FileDescriptorProtos, with names indexed at once and everything else
// parsed and resolved on first use. That skips decoding the entry into
// descriptorpb messages and linking it with protodesc, which a warm call
// would otherwise pay for on every run. The sum is what makes this safe:
// the builder trusts its input as generated code's own, and these bytes
// are the ones written from files protodesc had linked. ok is false for
// any entry without a matching sum, and for one whose files carry source
// code info: the builder drops it, and with it the comments that describe
// and the MCP tools show.
func loadVerified(data []byte) (files *protoregistry.Files, served []string, ok bool) {
	var raws [][]byte
	rest := data
	for len(rest) > 0 {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, nil, false
		}
		start := len(data) - len(rest)
		rest = rest[n:]
		if typ != protowire.BytesType {
			return nil, nil, false
		}
		value, m := protowire.ConsumeBytes(rest)
		if m < 0 {
			return nil, nil, false
		}
		rest = rest[m:]
		switch num {
		case 1: // FileDescriptorSet.file
			if hasSourceCodeInfo(value) {
				return nil, nil, false
			}
			raws = append(raws, value)
		case servedServicesField:
			served = append(served, string(value))
		case entrySumField:
			sum := sha256.Sum256(data[:start])
			if len(rest) != 0 || string(value) != string(sum[:]) {
				return nil, nil, false
			}
			ok = true
		default:
			return nil, nil, false
		}
	}
	if !ok || len(raws) == 0 {
		return nil, nil, false
	}
	files = &protoregistry.Files{}
	for _, raw := range raws {
		if err := buildRaw(files, raw); err != nil {
			return nil, nil, false
		}
	}
	return files, served, true
}

// hasSourceCodeInfo reports whether the serialized FileDescriptorProto in
// raw has its source_code_info field (9), or cannot be read.
func hasSourceCodeInfo(raw []byte) bool {
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return true
		}
		raw = raw[n:]
		if num == 9 {
			return true
		}
		m := protowire.ConsumeFieldValue(num, typ, raw)
		if m < 0 {
			return true
		}
		raw = raw[m:]
	}
	return false
}

// buildRaw adds the file serialized in raw to files. The builder panics on
// a file that clashes with one already added; that is an error here.
func buildRaw(files *protoregistry.Files, raw []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("descriptor cache: %v", r)
		}
	}()
	protoimpl.DescBuilder{RawDescriptor: raw, FileRegistry: files}.Build()
	return nil
}

// decodeSetLocked fills s.set from the entry that readLocked loaded
// without decoding, for changes to it.
func (s *CachedSource) decodeSetLocked() {
	if s.set != nil || s.raw == nil {
		return
	}
	var set descriptorpb.FileDescriptorSet
	s.set = map[string]*descriptorpb.FileDescriptorProto{}
	if err := proto.Unmarshal(s.raw, &set); err == nil {
		for _, file := range set.GetFile() {
			s.set[file.GetName()] = file
		}
	}
	s.raw = nil
}

// servedOf reads the served services from the unknown fields of an entry.
func servedOf(unknown []byte) []string {
	var served []string
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return nil
		}
		unknown = unknown[n:]
		if num == servedServicesField && typ == protowire.BytesType {
			name, m := protowire.ConsumeString(unknown)
			if m < 0 {
				return nil
			}
			served = append(served, name)
			unknown = unknown[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, unknown)
		if m < 0 {
			return nil
		}
		unknown = unknown[m:]
	}
	return served
}

// populateLocked fetches the files of every service the fetch source lists
// and writes them as the new entry.
func (s *CachedSource) populateLocked(ctx context.Context) error {
	services, err := s.fetch.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("descriptor cache for %s: %w", s.key, err)
	}
	var files []protoreflect.FileDescriptor
	described := []string{}
	for _, service := range services {
		d, err := s.fetch.FindSymbol(ctx, service)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("descriptor cache for %s: %w", s.key, err)
			}
			// A service the server lists but cannot describe (reflection
			// of an incomplete registry) is left out; asking for it later
			// fails with the fetch source's own error.
			continue
		}
		files = append(files, fileOf(d))
		described = append(described, service)
	}
	s.addLocked(true, files...)
	s.fresh = true
	slices.Sort(described)
	s.served = described
	s.writeLocked()
	return nil
}

// addLocked adds files and their imports to the entry (to an empty entry when
// replace is set) and rebuilds the source over it. Files of the same name are
// replaced: the server's copy is newer. If the old and new files cannot be
// built together, the entry keeps only the new ones.
func (s *CachedSource) addLocked(replace bool, files ...protoreflect.FileDescriptor) {
	fresh := DescriptorSetOf(files...)
	set := map[string]*descriptorpb.FileDescriptorProto{}
	if !replace {
		s.decodeSetLocked()
		for name, file := range s.set {
			set[name] = file
		}
	}
	for _, file := range fresh.GetFile() {
		set[file.GetName()] = file
	}
	source, err := s.build(set)
	if err != nil {
		set = map[string]*descriptorpb.FileDescriptorProto{}
		for _, file := range fresh.GetFile() {
			set[file.GetName()] = file
		}
		if source, err = s.build(set); err != nil {
			// Cannot happen: fresh came from built descriptors.
			source = newFileSource(&protoregistry.Files{}, s.origin())
		}
	}
	s.set, s.source = set, source
}

func (s *CachedSource) origin() string {
	return fmt.Sprintf("descriptor cache for %s (%s)", s.key, s.path)
}

// build returns a source over the files of set.
func (s *CachedSource) build(set map[string]*descriptorpb.FileDescriptorProto) (*FileSource, error) {
	return NewDescriptorSetSource(sortedSet(set), s.origin())
}

// sortedSet returns the files of set sorted by name, so that the same files
// always make the same bytes.
func sortedSet(set map[string]*descriptorpb.FileDescriptorProto) *descriptorpb.FileDescriptorSet {
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	slices.Sort(names)
	out := &descriptorpb.FileDescriptorSet{File: make([]*descriptorpb.FileDescriptorProto, 0, len(names))}
	for _, name := range names {
		out.File = append(out.File, set[name])
	}
	return out
}

// writeLocked writes the entry: to a temporary file in the same directory,
// then renamed over the entry.
func (s *CachedSource) writeLocked() {
	if err := s.write(); err != nil && s.opts.onWriteError != nil {
		s.opts.onWriteError(err)
	}
}

func (s *CachedSource) write() error {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(sortedSet(s.set))
	if err != nil {
		return fmt.Errorf("descriptor cache for %s: encode: %w", s.key, err)
	}
	for _, name := range s.served {
		data = protowire.AppendTag(data, servedServicesField, protowire.BytesType)
		data = protowire.AppendString(data, name)
	}
	sum := sha256.Sum256(data)
	data = protowire.AppendTag(data, entrySumField, protowire.BytesType)
	data = protowire.AppendBytes(data, sum[:])
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("descriptor cache for %s: %w", s.key, err)
	}
	tmp, err := os.CreateTemp(dir, "."+strings.TrimSuffix(filepath.Base(s.path), ".protoset")+"-*.tmp")
	if err != nil {
		return fmt.Errorf("descriptor cache for %s: %w", s.key, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.path)
	}
	if err != nil {
		return fmt.Errorf("descriptor cache for %s: write %s: %w", s.key, s.path, err)
	}
	return nil
}
