package sluice;

import ca.uhn.hl7v2.DefaultHapiContext;
import ca.uhn.hl7v2.HapiContext;
import ca.uhn.hl7v2.app.Connection;
import ca.uhn.hl7v2.app.HL7Service;
import ca.uhn.hl7v2.app.Initiator;
import ca.uhn.hl7v2.model.Message;
import ca.uhn.hl7v2.protocol.ReceivingApplication;
import ca.uhn.hl7v2.util.StandardSocketFactory;
import ca.uhn.hl7v2.util.Terser;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * A HAPI HL7 v2 peer for Sluice's MLLP interop tests. One line per event on stdout.
 *
 *   server        HAPI SimpleServer on 127.0.0.1, an ephemeral port, answering every message
 *                 with HAPI's own generateACK() (AA). Prints "LISTENING <port>", then
 *                 "RECEIVED <MSH-10>" per message. Exits when stdin closes.
 *   client PORT N HAPI client (Connection/Initiator): sends N ADT^A01 v2.5 messages to
 *                 127.0.0.1:PORT, prints "ACK <MSA-1> <MSA-2> <sent MSH-10>" per message, then "DONE".
 */
public final class HapiPeer {
  private HapiPeer() {}

  public static void main(String[] args) throws Exception {
    if (args.length >= 1 && args[0].equals("server")) {
      server();
    } else if (args.length >= 3 && args[0].equals("client")) {
      client(Integer.parseInt(args[1]), Integer.parseInt(args[2]));
    } else {
      System.err.println("usage: HapiPeer server | HapiPeer client PORT COUNT");
      System.exit(2);
    }
  }

  /** Binds HAPI's server socket to the loopback address only, and remembers it to read the port. */
  static final class LoopbackSocketFactory extends StandardSocketFactory {
    volatile ServerSocket last;

    @Override
    public ServerSocket createServerSocket() throws IOException {
      ServerSocket ss = new ServerSocket() {
        @Override
        public void bind(SocketAddress endpoint, int backlog) throws IOException {
          int port = endpoint instanceof InetSocketAddress ? ((InetSocketAddress) endpoint).getPort() : 0;
          super.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), backlog);
        }
      };
      last = ss;
      return ss;
    }
  }

  private static void server() throws Exception {
    HapiContext ctx = new DefaultHapiContext();
    LoopbackSocketFactory sockets = new LoopbackSocketFactory();
    ctx.setSocketFactory(sockets);
    HL7Service server = ctx.newServer(0, false);
    server.registerApplication(new ReceivingApplication<Message>() {
      @Override
      public Message processMessage(Message msg, Map<String, Object> metadata) {
        try {
          String id = new Terser(msg).get("/MSH-10");
          System.out.println("RECEIVED " + id);
          System.out.flush();
          return msg.generateACK();
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
      }

      @Override
      public boolean canProcess(Message msg) {
        return true;
      }
    });
    server.startAndWait();
    ServerSocket ss = sockets.last;
    for (int i = 0; i < 200 && (ss == null || !ss.isBound()); i++) {
      Thread.sleep(25);
      ss = sockets.last;
    }
    if (ss == null || !ss.isBound()) {
      System.err.println("HAPI server socket did not bind");
      System.exit(1);
    }
    System.out.println("LISTENING " + ss.getLocalPort());
    System.out.flush();
    // Run until the test closes our stdin (or dies).
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    while (in.readLine() != null) {
      // ignore input
    }
    server.stopAndWait();
    ctx.close();
    System.exit(0);
  }

  private static void client(int port, int count) throws Exception {
    HapiContext ctx = new DefaultHapiContext();
    Connection conn = ctx.newClient("127.0.0.1", port, false);
    Initiator initiator = conn.getInitiator();
    initiator.setTimeoutMillis(5000);
    for (int i = 1; i <= count; i++) {
      String id = "HAPI" + i;
      String text = "MSH|^~\\&|HAPI|JAVA|SLUICE|TEST|20240101120000||ADT^A01^ADT_A01|" + id + "|P|2.5\r"
          + "EVN|A01|20240101120000\r"
          + "PID|1||MRN" + i + "^^^HOSP^MR||DOE^JOHN||19700101|M\r"
          + "PV1|1|I\r";
      Message msg = ctx.getPipeParser().parse(text);
      Message ack = initiator.sendAndReceive(msg);
      Terser t = new Terser(ack);
      System.out.println("ACK " + t.get("/MSA-1") + " " + t.get("/MSA-2") + " " + id);
      System.out.flush();
    }
    conn.close();
    ctx.close();
    System.out.println("DONE");
    System.out.flush();
    System.exit(0);
  }
}
