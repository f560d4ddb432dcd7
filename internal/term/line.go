package term

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// ReadLine asks a question on the terminal and reads the answer, echoed
// (for answers that are not secret, such as a serial typed to confirm an
// erase).
func ReadLine(prompt string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", ErrNoTerminal
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading from the terminal: %w", err)
	}
	return strings.TrimSpace(line), nil
}
