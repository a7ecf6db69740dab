// hearth serve: saves answers as they are given (filled in below)
