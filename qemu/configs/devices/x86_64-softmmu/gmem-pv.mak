# gmem-pv's QEMU: the devices of x86_64-softmmu that `make qemu` builds
# (configure --without-default-devices --with-devices-x86_64=gmem-pv).
# Only what the e2e suites use; see
# Documentation/virt/gmem-pv/build-and-test.rst, "Building QEMU".

# Machines: q35 (PCI Express, virtio-pci) and microvm (virtio-mmio).
# Each selects its own chipset, fw_cfg, the ISA serial port and the
# option-ROM loaders; microvm also selects DEVICE_TREE (libfdt).
CONFIG_Q35=y
CONFIG_MICROVM=y

# virtio over PCI (q35) and over MMIO (microvm)
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_MMIO=y

# virtio devices
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_RNG=y

# PCI Express root ports, for devices behind a port on q35
CONFIG_PCIE_PORT=y
