package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// ErrInvalid is wrapped by every error caused by bad input: empty or ragged
// data, NaN or infinite values, out-of-range settings, corrupt encodings.
var ErrInvalid = errors.New("invalid input")

// eulerGamma is the Euler–Mascheroni constant used in the paper's
// approximation of the harmonic number, H(i) ≈ ln(i) + γ.
const eulerGamma = 0.5772156649

// AveragePathLength returns c(n), the average path length of an
// unsuccessful search in a binary search tree of n points, which the paper
// uses both to normalize scores and to account for the unbuilt subtree
// below an external node holding n points:
//
//	c(n) = 2H(n-1) - 2(n-1)/n,  H(i) ≈ ln(i) + 0.5772156649,  n > 2
//	c(2) = 1,  c(n) = 0 for n <= 1
//
// The special cases are the ones given by the same authors in the journal
// version (TKDD 2012) and used by scikit-learn; the approximate formula
// would give c(2) = 0.154, while the exact value is 1.
func AveragePathLength(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	fn := float64(n)
	return 2*(math.Log(fn-1)+eulerGamma) - 2*(fn-1)/fn
}

// Config sets up Fit. The zero value means the documented defaults.
type Config struct {
	// Trees is the number of isolation trees t. Defaults to 100, the value
	// the paper found enough for path lengths to converge.
	Trees int
	// SampleSize is the subsample size ψ each tree is built on, drawn
	// without replacement. Defaults to 256; capped at the number of rows.
	SampleSize int
	// Seed seeds the PCG generator; the same data, Config and Seed give
	// the same Forest bit for bit. Defaults to 0, which is a valid seed.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.Trees == 0 {
		c.Trees = 100
	}
	if c.SampleSize == 0 {
		c.SampleSize = 256
	}
	return c
}

// node is one node of an isolation tree, 16 bytes, stored in one flat
// array per forest. An internal node sends x to left when x[feature] <
// split and to left+1 otherwise; children always follow their parent, so
// traversal terminates. An external node has feature -1 and holds in split
// its whole path length contribution e + c(size).
type node struct {
	split   float64
	feature int32
	left    int32
}

// Forest is a fitted Isolation Forest. It is immutable after Fit or
// UnmarshalBinary, so its methods are safe for concurrent use.
type Forest struct {
	nFeatures  int
	sampleSize int // ψ actually used, min(Config.SampleSize, rows)
	seed       uint64
	cPsi       float64 // c(ψ), the score normalizer
	roots      []int32 // root node of each tree
	nodes      []node
	// gain[i] is how much reaching node i from its parent shortened the
	// expected path: c(nParent) - 1 - c(nChild). Used only to explain a
	// score (Contributions), so it lives outside the hot node array.
	gain []float64
}

// Fit builds an Isolation Forest on rows, each a point with the same
// number of features. Rows are not retained. It returns an error wrapping
// ErrInvalid when rows is empty or ragged, holds NaN or ±Inf, or cfg is
// out of range.
func Fit(rows [][]float64, cfg Config) (*Forest, error) {
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, fmt.Errorf("fit isolation forest: no rows: %w", ErrInvalid)
	}
	d := len(rows[0])
	flat := make([]float64, 0, len(rows)*d)
	for i, r := range rows {
		if len(r) != d {
			return nil, fmt.Errorf("fit isolation forest: row %d has %d features, want %d: %w", i, len(r), d, ErrInvalid)
		}
		flat = append(flat, r...)
	}
	return FitFlat(flat, d, cfg)
}

// FitFlat is Fit on a row-major matrix: row i is data[i*nFeatures :
// (i+1)*nFeatures]. data is not retained.
func FitFlat(data []float64, nFeatures int, cfg Config) (*Forest, error) {
	cfg = cfg.withDefaults()
	switch {
	case nFeatures <= 0 || nFeatures > math.MaxInt32:
		return nil, fmt.Errorf("fit isolation forest: nFeatures %d out of range: %w", nFeatures, ErrInvalid)
	case len(data) == 0 || len(data)%nFeatures != 0:
		return nil, fmt.Errorf("fit isolation forest: %d values is not a positive multiple of %d features: %w", len(data), nFeatures, ErrInvalid)
	case cfg.Trees < 1 || cfg.Trees > 100000:
		return nil, fmt.Errorf("fit isolation forest: Config.Trees %d out of range 1..100000: %w", cfg.Trees, ErrInvalid)
	case cfg.SampleSize < 1 || cfg.SampleSize > 1<<20:
		return nil, fmt.Errorf("fit isolation forest: Config.SampleSize %d out of range 1..1048576: %w", cfg.SampleSize, ErrInvalid)
	}
	for i, v := range data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("fit isolation forest: row %d feature %d is %v: %w", i/nFeatures, i%nFeatures, v, ErrInvalid)
		}
	}
	n := len(data) / nFeatures
	psi := min(cfg.SampleSize, n)
	f := &Forest{
		nFeatures:  nFeatures,
		sampleSize: psi,
		seed:       cfg.Seed,
		cPsi:       AveragePathLength(psi),
		roots:      make([]int32, 0, cfg.Trees),
	}
	// A tree on ψ points has at most 2ψ-1 nodes.
	est := cfg.Trees * (2*psi - 1)
	f.nodes = make([]node, 0, est)
	f.gain = make([]float64, 0, est)

	b := builder{
		f:         f,
		d:         nFeatures,
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		maxDepth:  heightLimit(psi),
		sample:    make([]float64, psi*nFeatures),
		idx:       make([]int32, psi),
		candidate: make([]int32, nFeatures),
	}
	// perm is shuffled partially for each tree: the first ψ entries after
	// a partial Fisher–Yates pass are a uniform sample without
	// replacement whatever order perm was left in by the previous tree.
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for range cfg.Trees {
		for i := range psi {
			j := i + b.rng.IntN(n-i)
			perm[i], perm[j] = perm[j], perm[i]
			copy(b.sample[i*nFeatures:(i+1)*nFeatures], data[int(perm[i])*nFeatures:])
			b.idx[i] = int32(i)
		}
		root := b.newNode(0)
		f.roots = append(f.roots, root)
		b.grow(root, 0, psi, 0)
	}
	return f, nil
}

// heightLimit is the paper's l = ceil(log2 ψ), the average tree height,
// beyond which only the (uninteresting) dense points would be separated.
func heightLimit(psi int) int {
	if psi <= 1 {
		return 0
	}
	return int(math.Ceil(math.Log2(float64(psi))))
}

type builder struct {
	f         *Forest
	d         int
	rng       *rand.Rand
	maxDepth  int
	sample    []float64 // ψ rows of the current tree, row-major
	idx       []int32   // row indices into sample, partitioned in place
	candidate []int32   // features not yet found constant at this node
}

// newNode appends a placeholder node and returns its index.
func (b *builder) newNode(gain float64) int32 {
	f := b.f
	f.nodes = append(f.nodes, node{feature: -1})
	f.gain = append(f.gain, gain)
	return int32(len(f.nodes) - 1)
}

// grow turns node i, holding sample rows idx[lo:hi] at depth e, into an
// external node or an internal node with two grown children (Algorithm 2
// of the paper).
func (b *builder) grow(i int32, lo, hi, e int) {
	size := hi - lo
	leaf := func() { b.f.nodes[i] = node{feature: -1, split: float64(e) + AveragePathLength(size)} }
	if e >= b.maxDepth || size <= 1 {
		leaf()
		return
	}
	// Pick a feature uniformly among those not constant at this node;
	// when all are constant the points are identical and cannot be
	// isolated further. Drawing and discarding constant features keeps the
	// choice uniform over the non-constant ones without scanning all
	// features up front.
	d := b.d
	cand := b.candidate[:d]
	for k := range cand {
		cand[k] = int32(k)
	}
	var q int32
	var vmin, vmax float64
	for {
		if len(cand) == 0 {
			leaf()
			return
		}
		k := b.rng.IntN(len(cand))
		q = cand[k]
		vmin, vmax = math.Inf(1), math.Inf(-1)
		for _, r := range b.idx[lo:hi] {
			v := b.sample[int(r)*d+int(q)]
			vmin = min(vmin, v)
			vmax = max(vmax, v)
		}
		if vmax > vmin {
			break
		}
		cand[k] = cand[len(cand)-1]
		cand = cand[:len(cand)-1]
	}
	p := vmin + b.rng.Float64()*(vmax-vmin)
	// Partition idx[lo:hi] into x[q] < p and x[q] >= p.
	m := lo
	for k := lo; k < hi; k++ {
		r := b.idx[k]
		if b.sample[int(r)*d+int(q)] < p {
			b.idx[k], b.idx[m] = b.idx[m], r
			m++
		}
	}
	cParent := AveragePathLength(size)
	left := b.newNode(cParent - 1 - AveragePathLength(m-lo))
	b.newNode(cParent - 1 - AveragePathLength(hi-m))
	b.f.nodes[i] = node{split: p, feature: q, left: left}
	b.grow(left, lo, m, e+1)
	b.grow(left+1, m, hi, e+1)
}

// NumFeatures returns the number of features a row must have.
func (f *Forest) NumFeatures() int { return f.nFeatures }

// NumTrees returns the number of trees t.
func (f *Forest) NumTrees() int { return len(f.roots) }

// SampleSize returns ψ, the subsample size each tree was built on.
func (f *Forest) SampleSize() int { return f.sampleSize }

// pathSum returns Σ over trees of h(x).
func (f *Forest) pathSum(row []float64) float64 {
	nodes := f.nodes
	var sum float64
	for _, i := range f.roots {
		n := nodes[i]
		for n.feature >= 0 {
			n = nodes[child(n, row)]
		}
		sum += n.split
	}
	return sum
}

// child returns the index of the child of internal node n that row goes
// to: left when row[feature] < split, else left+1. It is branch-free
// because the comparison is a coin flip the branch predictor cannot learn:
// the sign bit of row[feature]-split is exactly "row[feature] < split" for
// non-NaN values (a nonzero difference never rounds to zero), and a NaN
// difference lands on either child, never outside.
func child(n node, row []float64) int32 {
	return n.left + 1 - int32(math.Float64bits(row[n.feature]-n.split)>>63)
}

// blockRows is how many rows ScoreFlat and ScoreBatch push through one
// tree before moving to the next: the tree (a few KB) stays in L1 cache
// while it is used, instead of the whole forest being streamed per row.
const blockRows = 64

// pathSums writes Σ over trees of h(rows[i]) to sums[i], tree by tree. Four rows descend each tree
// together: a single descent is a chain of dependent loads, so running
// four independent chains side by side keeps the CPU busy while each
// waits.
func (f *Forest) pathSums(sums []float64, rows [][]float64) {
	clear(sums)
	nodes := f.nodes
	for _, root := range f.roots {
		top := nodes[root]
		r := 0
		for ; r+4 <= len(sums); r += 4 {
			x0, x1, x2, x3 := rows[r], rows[r+1], rows[r+2], rows[r+3]
			n0, n1, n2, n3 := top, top, top, top
			for n0.feature >= 0 || n1.feature >= 0 || n2.feature >= 0 || n3.feature >= 0 {
				if n0.feature >= 0 {
					n0 = nodes[child(n0, x0)]
				}
				if n1.feature >= 0 {
					n1 = nodes[child(n1, x1)]
				}
				if n2.feature >= 0 {
					n2 = nodes[child(n2, x2)]
				}
				if n3.feature >= 0 {
					n3 = nodes[child(n3, x3)]
				}
			}
			sums[r] += n0.split
			sums[r+1] += n1.split
			sums[r+2] += n2.split
			sums[r+3] += n3.split
		}
		for ; r < len(sums); r++ {
			x := rows[r]
			n := top
			for n.feature >= 0 {
				n = nodes[child(n, x)]
			}
			sums[r] += n.split
		}
	}
}

// PathLength returns E[h(x)], the mean over trees of the path length of
// row including the c(size) correction at the external node. It panics
// if len(row) < NumFeatures().
func (f *Forest) PathLength(row []float64) float64 {
	_ = row[f.nFeatures-1]
	return f.pathSum(row) / float64(len(f.roots))
}

// Score returns the anomaly score s(x) = 2^(-E[h(x)]/c(ψ)) of row, in
// (0, 1]: near 1 for points isolated quickly (anomalies), well below 0.5
// for points deep in the mass, about 0.5 everywhere when the data has no
// distinct anomalies. A NaN feature goes to the left at every split on
// it. Score panics if len(row) < NumFeatures(); extra values are ignored.
func (f *Forest) Score(row []float64) float64 {
	_ = row[f.nFeatures-1]
	return f.score(f.pathSum(row))
}

func (f *Forest) score(sum float64) float64 {
	if f.cPsi == 0 { // ψ = 1: nothing to isolate from
		return 0.5
	}
	return math.Exp2(-sum / float64(len(f.roots)) / f.cPsi)
}

// ScoreBatch writes Score(rows[i]) to dst[i] and returns dst[:len(rows)],
// growing dst only when it is too short. It panics if a row is shorter
// than NumFeatures().
func (f *Forest) ScoreBatch(dst []float64, rows [][]float64) []float64 {
	if cap(dst) < len(rows) {
		dst = make([]float64, len(rows))
	}
	dst = dst[:len(rows)]
	for _, r := range rows {
		_ = r[f.nFeatures-1]
	}
	for lo := 0; lo < len(rows); lo += blockRows {
		hi := min(lo+blockRows, len(rows))
		f.pathSums(dst[lo:hi], rows[lo:hi])
		for i := lo; i < hi; i++ {
			dst[i] = f.score(dst[i])
		}
	}
	return dst
}

// ScoreFlat scores the rows of a row-major matrix with NumFeatures()
// columns, like ScoreBatch. It panics if len(data) is not a multiple of
// NumFeatures().
func (f *Forest) ScoreFlat(dst []float64, data []float64) []float64 {
	d := f.nFeatures
	if len(data)%d != 0 {
		panic(fmt.Sprintf("anomaly: ScoreFlat on %d values, not a multiple of %d features", len(data), d))
	}
	n := len(data) / d
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	var block [blockRows][]float64
	for lo := 0; lo < n; lo += blockRows {
		hi := min(lo+blockRows, n)
		for i := lo; i < hi; i++ {
			block[i-lo] = data[i*d : (i+1)*d]
		}
		f.pathSums(dst[lo:hi], block[:hi-lo])
		for i := lo; i < hi; i++ {
			dst[i] = f.score(dst[i])
		}
	}
	return dst
}

// Contributions explains Score(row) per feature and writes the result to
// dst (grown when shorter than NumFeatures()), returning it.
//
// Method: every split on the row's path in a tree changes the expected
// remaining path length from c(n) for the n sample points at the node to
// 1 + c(m) for the m points in the child the row goes to; the difference
// c(n) - 1 - c(m) is how much that split shortened the row's path. These
// terms telescope: along one path they sum to c(ψ) - h(x), the amount by
// which the row is isolated faster than an average point, which is what
// drives the score above 0.5. Each term is credited to the split's
// feature and averaged over trees. Splits that keep the row with most of
// the mass have negative terms; the result keeps each feature's positive
// part and normalizes it to sum 1. When no feature has a positive total
// (the row is not isolated faster than average) all entries are 0.
func (f *Forest) Contributions(dst []float64, row []float64) []float64 {
	_ = row[f.nFeatures-1]
	if cap(dst) < f.nFeatures {
		dst = make([]float64, f.nFeatures)
	}
	dst = dst[:f.nFeatures]
	clear(dst)
	nodes := f.nodes
	for _, i := range f.roots {
		n := nodes[i]
		for n.feature >= 0 {
			next := child(n, row)
			dst[n.feature] += f.gain[next]
			n = nodes[next]
		}
	}
	var total float64
	for k, v := range dst {
		v = max(v, 0)
		dst[k] = v
		total += v
	}
	if total > 0 {
		for k := range dst {
			dst[k] /= total
		}
	}
	return dst
}
