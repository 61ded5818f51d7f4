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
// split and to left+1 otherwise; children always follow their parent. An
// external node (a leaf) points to itself, left = its own index, with
// feature 0 and split +Inf, so every finite x stays there: a descent can
// then run a fixed number of steps, the height limit, with no test for
// having reached a leaf. The leaf's path length e + c(size) is kept in
// Forest.value.
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
	depth      int     // height limit: steps that reach a leaf from a root
	roots      []int32 // root node of each tree
	nodes      []node
	// value[i] is e + c(size) for leaf i: its depth plus the average path
	// length of the unbuilt subtree below it; 0 for internal nodes.
	value []float64
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
		depth:      heightLimit(psi),
		roots:      make([]int32, 0, cfg.Trees),
	}
	// A tree on ψ points has at most 2ψ-1 nodes.
	est := cfg.Trees * (2*psi - 1)
	f.nodes = make([]node, 0, est)
	f.gain = make([]float64, 0, est)
	f.value = make([]float64, 0, est)

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
	i := int32(len(f.nodes))
	f.nodes = append(f.nodes, node{split: math.Inf(1), left: i})
	f.gain = append(f.gain, gain)
	f.value = append(f.value, 0)
	return i
}

// grow turns node i, holding sample rows idx[lo:hi] at depth e, into an
// external node or an internal node with two grown children (Algorithm 2
// of the paper).
func (b *builder) grow(i int32, lo, hi, e int) {
	size := hi - lo
	leaf := func() { b.f.value[i] = float64(e) + AveragePathLength(size) }
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
	if !finite(row[:f.nFeatures]) {
		return f.pathSumSlow(row)
	}
	// Four trees at a time: their descents are independent chains of
	// loads that the CPU can overlap.
	nodes, value, roots := f.nodes, f.value, f.roots
	var sum float64
	t := 0
	for ; t+4 <= len(roots); t += 4 {
		i0, i1, i2, i3 := roots[t], roots[t+1], roots[t+2], roots[t+3]
		for k := f.depth; k != 0; k-- {
			i0 = child(nodes[i0], row)
			i1 = child(nodes[i1], row)
			i2 = child(nodes[i2], row)
			i3 = child(nodes[i3], row)
		}
		// Added one by one in tree order, so Score and ScoreBatch agree
		// to the last bit.
		sum += value[i0]
		sum += value[i1]
		sum += value[i2]
		sum += value[i3]
	}
	for _, i := range roots[t:] {
		for k := f.depth; k != 0; k-- {
			i = child(nodes[i], row)
		}
		sum += value[i]
	}
	return sum
}

// pathSumSlow is pathSum for rows with NaN or infinite features, which
// the leaf trick does not hold for: NaN goes left at every split, +Inf
// right, -Inf left.
func (f *Forest) pathSumSlow(row []float64) float64 {
	nodes := f.nodes
	var sum float64
	for _, i := range f.roots {
		for n := nodes[i]; n.left != i; n = nodes[i] {
			i = n.left
			if row[n.feature] >= n.split {
				i++
			}
		}
		sum += f.value[i]
	}
	return sum
}

func finite(row []float64) bool {
	for _, v := range row {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// child returns the index of the node a finite row goes to from n: for an
// internal node left when row[feature] < split, else left+1; for a leaf
// the leaf itself. It is branch-free because the comparison is a coin flip
// the branch predictor cannot learn: the sign bit of row[feature]-split
// is exactly "row[feature] < split" for finite values (a nonzero
// difference never rounds to zero), and for a leaf finite - Inf = -Inf
// has the sign bit set.
func child(n node, row []float64) int32 {
	return n.left + 1 - int32(math.Float64bits(row[n.feature]-n.split)>>63)
}

// blockRows is how many rows ScoreFlat and ScoreBatch push through one
// tree before moving to the next: the tree (a few KB) stays in L1 cache
// while it is used, instead of the whole forest being streamed per row.
const blockRows = 64

// blockFeatures is the most features pathSums handles with its
// stack-resident block; wider rows take the plain per-row descent.
const blockFeatures = 16

// block holds blockRows rows of up to blockFeatures features, row r at
// r*blockFeatures. Its size is a power of two, so indexing it through
// blockMask needs no bounds check in the inner loop, and the fixed stride
// saves the registers that per-row offsets would take.
type block [blockRows * blockFeatures]float64

const blockMask = blockRows*blockFeatures - 1

// pathSums writes Σ over trees of h(rows[i]) to sums[i], tree by tree.
// Four rows descend each tree together: a descent is a chain of dependent
// loads, so four independent chains side by side keep the CPU busy while
// each one waits.
func (f *Forest) pathSums(sums []float64, rows [][]float64) {
	d := f.nFeatures
	if d > blockFeatures {
		for r, x := range rows {
			sums[r] = f.pathSum(x)
		}
		return
	}
	var buf block
	for r, x := range rows {
		if !finite(x[:d]) {
			// Rare: score the whole block the slow way.
			for r, x := range rows {
				sums[r] = f.pathSum(x)
			}
			return
		}
		copy(buf[r*blockFeatures:r*blockFeatures+d], x)
	}
	f.blockSums(sums, &buf)
}

// blockSums is pathSums on len(sums) finite rows laid out in buf.
func (f *Forest) blockSums(sums []float64, buf *block) {
	clear(sums)
	nodes, value, depth, d := f.nodes, f.value, f.depth, f.nFeatures
	const stride = blockFeatures
	for _, root := range f.roots {
		r := 0
		for ; r+4 <= len(sums); r += 4 {
			o := uint(r * stride)
			i0, i1, i2, i3 := uint(root), uint(root), uint(root), uint(root)
			for k := depth; k != 0; k-- {
				n0, n1, n2, n3 := nodes[i0], nodes[i1], nodes[i2], nodes[i3]
				i0 = uint(uint32(n0.left)) + 1 - uint(math.Float64bits(buf[(o+uint(uint32(n0.feature)))&blockMask]-n0.split)>>63)
				i1 = uint(uint32(n1.left)) + 1 - uint(math.Float64bits(buf[(o+16+uint(uint32(n1.feature)))&blockMask]-n1.split)>>63)
				i2 = uint(uint32(n2.left)) + 1 - uint(math.Float64bits(buf[(o+32+uint(uint32(n2.feature)))&blockMask]-n2.split)>>63)
				i3 = uint(uint32(n3.left)) + 1 - uint(math.Float64bits(buf[(o+48+uint(uint32(n3.feature)))&blockMask]-n3.split)>>63)
			}
			sums[r] += value[i0]
			sums[r+1] += value[i1]
			sums[r+2] += value[i2]
			sums[r+3] += value[i3]
		}
		for ; r < len(sums); r++ {
			i := root
			x := buf[r*stride : r*stride+d]
			for range depth {
				i = child(nodes[i], x)
			}
			sums[r] += value[i]
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
	var rows [blockRows][]float64
	for lo := 0; lo < n; lo += blockRows {
		hi := min(lo+blockRows, n)
		for i := lo; i < hi; i++ {
			rows[i-lo] = data[i*d : (i+1)*d]
		}
		f.pathSums(dst[lo:hi], rows[:hi-lo])
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
		for n := nodes[i]; n.left != i; n = nodes[i] {
			i = n.left
			if row[n.feature] >= n.split {
				i++
			}
			dst[n.feature] += f.gain[i]
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
