package anomaly

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encoding of a Forest, little-endian:
//
//	magic "VMIF", version uint16 (1), nFeatures uint32, sampleSize uint32,
//	seed uint64, trees uint32, nodes uint32,
//	roots [trees]int32,
//	nodes [nodes]{split float64, feature int32, left int32, value float64, gain float64}
const (
	forestMagic   = "VMIF"
	forestVersion = 1
	headerLen     = 4 + 2 + 4 + 4 + 8 + 4 + 4
	nodeLen       = 8 + 4 + 4 + 8 + 8
)

// MarshalBinary encodes the Forest in a versioned little-endian format
// that UnmarshalBinary reads back into an identical Forest.
func (f *Forest) MarshalBinary() ([]byte, error) {
	buf := make([]byte, 0, headerLen+4*len(f.roots)+nodeLen*len(f.nodes))
	le := binary.LittleEndian
	buf = append(buf, forestMagic...)
	buf = le.AppendUint16(buf, forestVersion)
	buf = le.AppendUint32(buf, uint32(f.nFeatures))
	buf = le.AppendUint32(buf, uint32(f.sampleSize))
	buf = le.AppendUint64(buf, f.seed)
	buf = le.AppendUint32(buf, uint32(len(f.roots)))
	buf = le.AppendUint32(buf, uint32(len(f.nodes)))
	for _, r := range f.roots {
		buf = le.AppendUint32(buf, uint32(r))
	}
	for i, n := range f.nodes {
		buf = le.AppendUint64(buf, math.Float64bits(n.split))
		buf = le.AppendUint32(buf, uint32(n.feature))
		buf = le.AppendUint32(buf, uint32(n.left))
		buf = le.AppendUint64(buf, math.Float64bits(f.value[i]))
		buf = le.AppendUint64(buf, math.Float64bits(f.gain[i]))
	}
	return buf, nil
}

// UnmarshalBinary replaces f with the Forest encoded in data by
// MarshalBinary. It checks the structure (feature indices in range,
// children after their parent, leaves pointing to themselves, no tree
// deeper than the height limit) and returns an error
// wrapping ErrInvalid for an unknown version or corrupt data, leaving f
// unchanged.
func (f *Forest) UnmarshalBinary(data []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("decode isolation forest: "+format+": %w", append(args, ErrInvalid)...)
	}
	if len(data) < headerLen || string(data[:4]) != forestMagic {
		return fail("not an encoded forest")
	}
	le := binary.LittleEndian
	if v := le.Uint16(data[4:]); v != forestVersion {
		return fail("version %d, want %d", v, forestVersion)
	}
	nFeatures := le.Uint32(data[6:])
	sampleSize := le.Uint32(data[10:])
	seed := le.Uint64(data[14:])
	nTrees := uint64(le.Uint32(data[22:]))
	nNodes := uint64(le.Uint32(data[26:]))
	if nFeatures == 0 || nFeatures > math.MaxInt32 || sampleSize == 0 || nTrees == 0 {
		return fail("empty forest")
	}
	if want := uint64(headerLen) + 4*nTrees + nodeLen*nNodes; uint64(len(data)) != want {
		return fail("%d bytes, want %d", len(data), want)
	}
	g := &Forest{
		nFeatures:  int(nFeatures),
		sampleSize: int(sampleSize),
		seed:       seed,
		cPsi:       AveragePathLength(int(sampleSize)),
		depth:      heightLimit(int(sampleSize)),
		roots:      make([]int32, nTrees),
		nodes:      make([]node, nNodes),
		gain:       make([]float64, nNodes),
		value:      make([]float64, nNodes),
	}
	p := data[headerLen:]
	for i := range g.roots {
		r := le.Uint32(p)
		p = p[4:]
		if uint64(r) >= nNodes {
			return fail("tree %d root %d out of range", i, r)
		}
		g.roots[i] = int32(r)
	}
	for i := range g.nodes {
		n := node{
			split:   math.Float64frombits(le.Uint64(p)),
			feature: int32(le.Uint32(p[8:])),
			left:    int32(le.Uint32(p[12:])),
		}
		g.value[i] = math.Float64frombits(le.Uint64(p[16:]))
		g.gain[i] = math.Float64frombits(le.Uint64(p[24:]))
		p = p[nodeLen:]
		leaf := n.left == int32(i)
		switch {
		case math.IsNaN(n.split) || math.IsNaN(g.value[i]) || math.IsNaN(g.gain[i]):
			return fail("node %d has a NaN value", i)
		case n.feature < 0 || n.feature >= int32(nFeatures):
			return fail("node %d feature %d out of range", i, n.feature)
		case leaf && (n.feature != 0 || !math.IsInf(n.split, 1)):
			return fail("leaf %d is not absorbing", i)
		case !leaf && (n.left <= int32(i) || uint64(n.left)+1 >= nNodes):
			return fail("node %d children %d out of range", i, n.left)
		}
		g.nodes[i] = n
	}
	// Children follow parents, so one forward pass finds every depth.
	depth := make([]int32, nNodes)
	for i, n := range g.nodes {
		if n.left == int32(i) {
			continue
		}
		if int(depth[i]) >= g.depth {
			return fail("node %d below the height limit %d", i, g.depth)
		}
		depth[n.left] = max(depth[n.left], depth[i]+1)
		depth[n.left+1] = max(depth[n.left+1], depth[i]+1)
	}
	*f = *g
	return nil
}
