package synth_test

import (
	"fmt"

	"resyn/core/synth"
)

func ExampleExtractCode() {
	reply := "Sure, here it is:\n\n```python\nNAME = \"x\"\n\ndef generate(rng, difficulty):\n    return {}\n\ndef verify(state, answer):\n    return 0.0\n```\n\nIt follows the contract."
	code, err := synth.ExtractCode(reply)
	fmt.Print(code)
	fmt.Println(err)
	_, err = synth.ExtractCode("I'm sorry, I can't write that.")
	fmt.Println(err)
	// Output:
	// NAME = "x"
	//
	// def generate(rng, difficulty):
	//     return {}
	//
	// def verify(state, answer):
	//     return 0.0
	// <nil>
	// synth: the model refused: I'm sorry, I can't write that.
}

func ExampleDedupIdeas() {
	library := []synth.Known{{Name: "graph_coloring", Description: "Colour a graph so that no edge joins two vertices of the same colour."}}
	ideas := synth.ParseIdeas(`[
	  {"name": "Graph Colouring", "description": "Colour the vertices of a graph properly with k colours."},
	  {"name": "gcd_pairs", "description": "For several pairs of integers, give their greatest common divisor."},
	  {"name": "gcd_of_pairs", "description": "For several pairs of integers, give their greatest common divisor!"}
	]`)
	kept, dropped := synth.DedupIdeas(ideas, library, 0.5)
	for _, i := range kept {
		fmt.Println("kept", i.Name)
	}
	for _, d := range dropped {
		fmt.Println("dropped", d.Idea.Name, "repeats", d.SimilarTo)
	}
	// Output:
	// kept gcd_pairs
	// dropped graph_colouring repeats graph_coloring
	// dropped gcd_of_pairs repeats gcd_pairs
}
