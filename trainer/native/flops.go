package native

// ForwardFLOPs counts the floating-point operations of one Forward of B
// rows of T positions with every position selected: the matrix products
// (2 per multiply-add: q/k/v, o, gate/up, down, output head) and attention
// (scores and weighted values over the causal prefix). Norms, rotary
// embeddings and softmaxes are left out, as in the usual MFU accounting. A
// training step's forward+backward is about 3 times this.
func (c Config) ForwardFLOPs(B, T int) float64 {
	C, I, V := float64(c.HiddenSize), float64(c.IntermediateSize), float64(c.VocabSize)
	hd := C / float64(c.NumHeads)
	q, kv := float64(c.NumHeads)*hd, float64(c.NumKVHeads)*hd
	perTok := 2*C*(q+2*kv) + 2*q*C + 2*C*2*I + 2*I*C // one layer's projections
	perTok = perTok*float64(c.NumLayers) + 2*C*V
	// attention: position t attends to t+1 keys: 2*hd for q.k, 2*hd for p*v, per head
	pairs := float64(T) * float64(T+1) / 2
	att := 4 * hd * float64(c.NumHeads) * pairs * float64(c.NumLayers)
	return float64(B) * (perTok*float64(T) + att)
}
