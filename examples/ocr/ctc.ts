/**
 * Greedy CTC decoding of PaddleOCR's recogniser output.
 * @module
 */

/**
 * The recogniser's classes from its key file: class 0 is the CTC blank, then one class per line of
 * the file, then a space (PaddleOCR's `use_space_char`): 6,625 classes for `ppocr_keys_v1.txt`.
 */
export function ctcAlphabet(keys: string): string[] {
  const lines = keys.replace(/\r\n/g, '\n').replace(/\n$/, '').split('\n');
  return ['', ...lines, ' '];
}

/**
 * Decodes one line: the best class of each time step, repeats merged, blanks dropped.
 * @param scores - the step-by-class scores of one line, `[steps, classes]` row-major.
 * @param alphabet - from {@link ctcAlphabet}; its length must equal the number of classes.
 */
export function ctcGreedyDecode(scores: Float32Array, steps: number, alphabet: readonly string[]): string {
  const classes = alphabet.length;
  if (scores.length !== steps * classes) {
    throw new RangeError(`Expected ${steps} x ${classes} scores, got ${scores.length}`);
  }
  let text = '';
  let previous = 0;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    let bestScore = -Infinity;
    const row = t * classes;
    for (let k = 0; k < classes; k++) {
      const s = scores[row + k]!;
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    }
    if (best !== 0 && best !== previous) text += alphabet[best];
    previous = best;
  }
  return text;
}
