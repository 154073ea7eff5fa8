"""The raster catalogue and the rendering of map tiles."""
