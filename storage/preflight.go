package storage

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// preflight reads the head of an existing file, without modifying it or
// handing it to bbolt, and says whether bbolt can safely open it. bbolt
// itself would initialise an empty file in place, and trusts the page
// numbers in its meta pages: a truncated file would be mapped short and fault
// on first touch. So: an empty file is not a store; neither meta page valid
// means the file is not a bbolt file (or both metas are damaged); a valid
// meta whose high-water mark lies past the end of the file means truncation.
//
// The meta page layout is bbolt's (file format version 2): a 16-byte page
// header, then magic, version, page size, flags (uint32 each), the root
// bucket (root page, sequence), freelist page, high-water page id, txid
// (uint64 each) and an FNV-64a checksum of everything before it, all in the
// machine's byte order (little-endian on every platform resyn supports).
func preflight(path string, size int64) error {
	if size == 0 {
		return fmt.Errorf("%s is an empty file: %w", path, ErrNotStore)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = preflightMeta(f, path, size)
	return err
}

// preflightMeta is preflight on an open file; it returns the meta that bbolt
// will use (the valid one with the higher transaction id).
func preflightMeta(f io.ReaderAt, path string, size int64) (meta, error) {
	if size == 0 {
		return meta{}, fmt.Errorf("%s is an empty file: %w", path, ErrNotStore)
	}
	m0, ok0 := readMeta(f, 0)
	var m1 meta
	ok1 := false
	if ok0 {
		m1, ok1 = readMeta(f, int64(m0.pageSize))
	} else {
		// Meta 0 is damaged: look for meta 1 at the usual page sizes.
		for ps := int64(1024); ps <= 1<<16 && !ok1; ps <<= 1 {
			m1, ok1 = readMeta(f, ps)
		}
	}
	var m meta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		if hasMagic(f) {
			return meta{}, fmt.Errorf("%s: both bbolt meta pages are damaged: %w", path, ErrCorrupt)
		}
		return meta{}, fmt.Errorf("%s is not a bbolt database (%d bytes of something else): %w", path, size, ErrNotStore)
	}
	// Divide rather than multiply: a high-water mark near 2^64 (a damaged
	// or forged meta whose checksum holds) would wrap the product round to
	// a small number and pass, and the page walk would then try to
	// allocate a bitmap of that many pages.
	if m.pgid > uint64(size)/uint64(m.pageSize) {
		return meta{}, fmt.Errorf("%s is truncated: %d bytes, but its header says %d pages of %d bytes: %w", path, size, m.pgid, m.pageSize, ErrCorrupt)
	}
	if m.freelist != pgidNoFreelist && !freelistFits(f, m) {
		return meta{}, fmt.Errorf("%s: the free-page list (page %d) is damaged: %w", path, m.freelist, ErrCorrupt)
	}
	if m.freelist == pgidNoFreelist {
		// No free-page list on disk (a file written with NoFreelistSync,
		// or a forged meta): bbolt rebuilds it when it opens the file for
		// writing by walking every page, on a goroutine of its own where a
		// damaged page crashes the process or loops. Walk them here first.
		var first string
		if !walkPages(f, m, func(s string) bool {
			if first == "" {
				first = s
			}
			return false
		}) {
			return meta{}, fmt.Errorf("%s has no free-page list and its pages are damaged (%s): %w", path, first, ErrCorrupt)
		}
	}
	return m, nil
}

// freelistFits checks that the freelist page's element count stays within
// the page and its overflow, and the overflow within the file's high-water
// mark: bbolt reads it without checks (on a goroutine of its own during
// tx.Check, where a fault could not be recovered).
func freelistFits(f io.ReaderAt, m meta) bool {
	var h [pageHeaderSize + 8]byte
	if _, err := f.ReadAt(h[:], int64(m.freelist)*int64(m.pageSize)); err != nil {
		return false
	}
	le := binary.LittleEndian
	const freelistPageFlag = 0x10
	if le.Uint16(h[8:])&freelistPageFlag == 0 {
		return false
	}
	count := uint64(le.Uint16(h[10:]))
	overflow := uint64(le.Uint32(h[12:]))
	if m.freelist+overflow >= m.pgid {
		return false
	}
	// The ids the page and its overflow hold (no overflow in the product:
	// the run lies below the high-water mark, which preflight has checked
	// against the file's size). Compared, never multiplied, so that a
	// huge count cannot wrap round to fit.
	room := ((overflow+1)*uint64(m.pageSize) - pageHeaderSize) / 8
	if count == 0xFFFF { // the real count is the first element, which takes a slot itself
		return le.Uint64(h[16:]) < room
	}
	return count <= room
}

const (
	boltMagic       = 0xED0CDAED
	boltVersion     = 2
	pageHeaderSize  = 16
	metaSize        = 64 // bytes of the meta struct
	metaChecksumOff = 56 // the checksum covers the meta's bytes before this offset
	pgidNoFreelist  = ^uint64(0)
)

type meta struct {
	pageSize         uint32
	root, freelist   uint64
	pgid, txid, csum uint64
}

// readMeta reads and validates the meta page at off.
func readMeta(f io.ReaderAt, off int64) (meta, bool) {
	var buf [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return meta{}, false
	}
	b := buf[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != boltMagic || le.Uint32(b[4:]) != boltVersion {
		return meta{}, false
	}
	m := meta{
		pageSize: le.Uint32(b[8:]),
		root:     le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]),
		pgid:     le.Uint64(b[40:]),
		txid:     le.Uint64(b[48:]),
		csum:     le.Uint64(b[56:]),
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksumOff])
	if h.Sum64() != m.csum {
		return meta{}, false
	}
	if m.pageSize < 512 || m.pageSize&(m.pageSize-1) != 0 || m.pgid < 4 ||
		m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != pgidNoFreelist) {
		return meta{}, false
	}
	return m, true
}

// hasMagic reports whether the first page carries bbolt's magic number.
func hasMagic(f io.ReaderAt) bool {
	var b [pageHeaderSize + 4]byte
	if _, err := f.ReadAt(b[:], 0); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(b[pageHeaderSize:]) == boltMagic
}
