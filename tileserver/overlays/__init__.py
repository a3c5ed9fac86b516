"""What is drawn over an image: ds9 regions, VOTable catalogs, the extra-files folder."""
