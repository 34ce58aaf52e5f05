// Declares describe() again: as in a browser, the later script's declaration wins.
function describe(value) {
    return '[' + value + ']';
}
