// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: a 16550A at 0x3f8 (IRQ 4), output only.  The transmitter is
 * always empty; the THRE interrupt is raised when the guest enables it or
 * writes a byte with it enabled, which is what Linux's 8250 driver needs
 * to keep its tty output moving.
 */
#include <pthread.h>
#include <unistd.h>

#include <linux/serial_reg.h>

#include "vmm.h"

#define COM1		0x3f8
#define COM1_IRQ	4

static struct {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool thre_pending;
} uart = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void out(uint8_t c)
{
	if (write(1, &c, 1) < 0)
		return;
}

/* Returns false if @port is not the UART's. */
bool serial_io(uint16_t port, bool write, uint8_t *data)
{
	bool dlab, irq = false;

	if (port < COM1 || port > COM1 + 7)
		return false;
	pthread_mutex_lock(&uart.lock);
	dlab = uart.lcr & UART_LCR_DLAB;
	switch (port - COM1) {
	case UART_TX:		/* also RX, DLL */
		if (dlab) {
			if (write)
				uart.dll = *data;
			else
				*data = uart.dll;
		} else if (write) {
			if (!(uart.mcr & UART_MCR_LOOP))
				out(*data);
			uart.thre_pending = true;
			irq = uart.ier & UART_IER_THRI;
		} else {
			*data = 0;
		}
		break;
	case UART_IER:		/* also DLM */
		if (dlab) {
			if (write)
				uart.dlm = *data;
			else
				*data = uart.dlm;
		} else if (write) {
			bool was = uart.ier & UART_IER_THRI;

			uart.ier = *data & 0x0f;
			if (!was && (uart.ier & UART_IER_THRI)) {
				uart.thre_pending = true;
				irq = true;
			}
		} else {
			*data = uart.ier;
		}
		break;
	case UART_IIR:		/* write: FCR, ignored */
		if (!write) {
			if (uart.thre_pending && (uart.ier & UART_IER_THRI)) {
				*data = UART_IIR_THRI | 0xc0;
				uart.thre_pending = false;
			} else {
				*data = UART_IIR_NO_INT | 0xc0;
			}
		}
		break;
	case UART_LCR:
		if (write)
			uart.lcr = *data;
		else
			*data = uart.lcr;
		break;
	case UART_MCR:
		if (write)
			uart.mcr = *data;
		else
			*data = uart.mcr;
		break;
	case UART_LSR:
		if (!write)
			*data = UART_LSR_TEMT | UART_LSR_THRE;
		break;
	case UART_MSR:
		if (!write)
			*data = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
		break;
	case UART_SCR:
		if (write)
			uart.scr = *data;
		else
			*data = uart.scr;
		break;
	}
	pthread_mutex_unlock(&uart.lock);
	if (irq)
		irq_pulse(COM1_IRQ);
	return true;
}
