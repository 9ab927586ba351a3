package sluice;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

/**
 * A long-lived FHIR R4 validator: one FHIR JSON resource per stdin line in, one JSON line
 * per resource out ({"issues":[...]} or {"error":"..."}), in order. It prints "READY" once
 * the structure definitions are loaded and a warm-up validation has run, so the first real
 * request is not the slow one. Offline by design: no terminology server, only the code
 * systems HAPI knows in memory (the R4 base value sets, UCUM, MIME types, languages...).
 */
public final class FhirValidatorMain {
  private FhirValidatorMain() {}

  public static void main(String[] args) throws Exception {
    // stdout is the protocol: anything the libraries print goes to stderr instead.
    PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
    System.setOut(System.err);

    FhirContext ctx = FhirContext.forR4();
    ValidationSupportChain chain = new ValidationSupportChain(
        new DefaultProfileValidationSupport(ctx),
        new CommonCodeSystemsTerminologyService(ctx),
        new InMemoryTerminologyServerValidationSupport(ctx),
        new SnapshotGeneratingValidationSupport(ctx));
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    FhirValidator validator = ctx.newValidator().registerValidatorModule(module);

    validator.validateWithResult("{\"resourceType\":\"Patient\",\"gender\":\"female\"}");
    protocol.print("READY\n");
    protocol.flush();

    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line; (line = in.readLine()) != null; ) {
      if (line.isBlank()) continue;
      String answer;
      try {
        answer = issuesJson(validator.validateWithResult(line));
      } catch (Exception | StackOverflowError e) {
        answer = "{\"error\":" + quote(String.valueOf(e.getMessage() != null ? e.getMessage() : e.toString())) + "}";
      }
      protocol.print(answer);
      protocol.print('\n');
      protocol.flush();
    }
  }

  private static String issuesJson(ValidationResult result) {
    StringBuilder b = new StringBuilder("{\"issues\":[");
    boolean first = true;
    for (SingleValidationMessage m : result.getMessages()) {
      if (!first) b.append(',');
      first = false;
      b.append("{\"severity\":").append(quote(m.getSeverity().getCode()))
          .append(",\"location\":").append(quote(m.getLocationString()))
          .append(",\"message\":").append(quote(m.getMessage()))
          .append(",\"messageId\":").append(quote(m.getMessageId()));
      if (m.getLocationLine() != null) b.append(",\"line\":").append(m.getLocationLine());
      if (m.getLocationCol() != null) b.append(",\"col\":").append(m.getLocationCol());
      b.append('}');
    }
    return b.append("]}").toString();
  }

  private static String quote(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
        }
      }
    }
    return b.append('"').toString();
  }
}
